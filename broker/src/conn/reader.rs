//! The socket reader: splits frames (size checked before the buffer grows) and
//! casts each to the connection actor once it holds an in-flight permit.

use std::sync::Arc;

use bytes::BytesMut;
use ractor::ActorRef;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::Semaphore;
use weir_client::protocol::frame::{FRAME_PREFIX_BYTES, peek_frame_len, split_frame};

use super::actor::ConnectionMsg;
use crate::limits::SOCKET_READ_BYTES;

/// Reads frames until EOF or a bad frame, then tells the actor why it stopped.
pub async fn read_frames(
    mut socket: OwnedReadHalf,
    actor: ActorRef<ConnectionMsg>,
    permits: Arc<Semaphore>,
    frame_bytes_max: usize,
) {
    let reason = match read_loop(&mut socket, &actor, &permits, frame_bytes_max).await {
        Ok(()) => "client closed".to_string(),
        Err(reason) => reason,
    };
    let _ = actor.cast(ConnectionMsg::ReaderClosed { reason });
}

async fn read_loop(
    socket: &mut OwnedReadHalf,
    actor: &ActorRef<ConnectionMsg>,
    permits: &Arc<Semaphore>,
    frame_bytes_max: usize,
) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(SOCKET_READ_BYTES);
    loop {
        while let Some(frame) = split_frame(&mut buf, frame_bytes_max).map_err(|e| bad_frame(&e))? {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| "permits closed".to_string())?;
            let msg = ConnectionMsg::Frame {
                frame: frame.freeze(),
                permit,
            };
            actor
                .cast(msg)
                .map_err(|_| "connection actor gone".to_string())?;
        }
        // Grow only to what the (already checked) frame in progress needs.
        let wanted = match peek_frame_len(&buf, frame_bytes_max).map_err(|e| bad_frame(&e))? {
            Some(len) => (FRAME_PREFIX_BYTES + len).saturating_sub(buf.len()),
            None => SOCKET_READ_BYTES,
        };
        buf.reserve(wanted.max(1));
        let read = socket
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read error: {e}"))?;
        if read == 0 {
            return Ok(());
        }
    }
}

fn bad_frame(e: &weir_client::protocol::DecodeError) -> String {
    tracing::info!(error = %e, "closing connection on bad frame");
    format!("bad frame: {e}")
}
