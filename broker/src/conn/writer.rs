//! The response writer: awaits responses in request order and writes them,
//! coalescing those already finished into one socket write.

use bytes::BytesMut;
use ractor::ActorRef;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinHandle;

use super::actor::ConnectionMsg;
use crate::limits::WRITE_BATCH_RESPONSES_MAX;
use crate::wire::Outcome;

/// A request being handled, in arrival order.
pub struct Pending {
    /// The handler's second phase.
    pub response: JoinHandle<Outcome>,
    /// Released once the response is written.
    pub permit: OwnedSemaphorePermit,
}

/// Writes responses until the actor drops its sender (drained) or something fails.
pub async fn write_responses(
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Pending>,
    actor: ActorRef<ConnectionMsg>,
) {
    let reason = match write_loop(&mut socket, &mut queue).await {
        Ok(()) => "drained".to_string(),
        Err(reason) => reason,
    };
    let _ = socket.shutdown().await;
    let _ = actor.cast(ConnectionMsg::WriterClosed { reason });
}

async fn write_loop(
    socket: &mut OwnedWriteHalf,
    queue: &mut mpsc::Receiver<Pending>,
) -> Result<(), String> {
    let mut out = BytesMut::new();
    let mut permits = Vec::with_capacity(WRITE_BATCH_RESPONSES_MAX);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut close = None;
        while let Some(pending) = next.take() {
            match pending.response.await {
                Ok(outcome) => close = append(&mut out, outcome),
                Err(e) => close = Some(format!("handler failed: {e}")),
            }
            permits.push(pending.permit);
            if close.is_some() || permits.len() >= WRITE_BATCH_RESPONSES_MAX {
                break;
            }
            // Coalesce only responses that are already done; never wait here.
            next = match queue.try_recv() {
                Ok(p) if p.response.is_finished() => Some(p),
                Ok(p) => {
                    flush(socket, &mut out, &mut permits).await?;
                    Some(p)
                }
                Err(_) => None,
            };
        }
        flush(socket, &mut out, &mut permits).await?;
        if let Some(reason) = close {
            return Err(reason);
        }
    }
    Ok(())
}

/// Adds a response to the batch; returns a reason when the connection must close.
fn append(out: &mut BytesMut, outcome: Outcome) -> Option<String> {
    match outcome {
        Outcome::Reply(frame) => {
            out.extend_from_slice(&frame);
            None
        }
        Outcome::Silent => None,
        Outcome::ReplyThenClose(frame) => {
            out.extend_from_slice(&frame);
            Some("closed after error response".into())
        }
        Outcome::Close(reason) => Some(reason),
    }
}

async fn flush(
    socket: &mut OwnedWriteHalf,
    out: &mut BytesMut,
    permits: &mut Vec<OwnedSemaphorePermit>,
) -> Result<(), String> {
    if !out.is_empty() {
        socket
            .write_all(out)
            .await
            .map_err(|e| format!("write error: {e}"))?;
        out.clear();
    }
    permits.clear();
    Ok(())
}
