//! ApiVersions: the table is generated from the decoder registry, so we advertise
//! exactly what we decode. The response header is always v0 (KIP-511).

use std::sync::Arc;

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use weir_client::protocol::requests::ApiVersionsRequest;
use weir_client::protocol::{RequestHeader, SUPPORTED_APIS};

use super::dispatch::{Outcome, ResponseFuture};
use super::encode::reply;
use super::{BrokerCtx, errors};

/// ApiVersions' wire key.
pub const API_KEY: i16 = 18;

/// The advertised table.
pub fn api_table() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|spec| {
            ApiVersion::default()
                .with_api_key(spec.key as i16)
                .with_min_version(spec.range.min)
                .with_max_version(spec.range.max)
        })
        .collect()
}

pub fn start(
    _ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    _request: ApiVersionsRequest,
) -> ResponseFuture {
    let body = ApiVersionsResponse::default()
        .with_error_code(errors::NONE)
        .with_api_keys(api_table());
    Box::pin(std::future::ready(reply(&header, &body)))
}

/// A v0 body with UNSUPPORTED_VERSION and the full table, whatever version was asked.
pub fn unsupported_version(header: &RequestHeader) -> Outcome {
    let body = ApiVersionsResponse::default()
        .with_error_code(errors::unsupported_version())
        .with_api_keys(api_table());
    let v0 = RequestHeader {
        api_version: 0,
        ..header.clone()
    };
    reply(&v0, &body)
}
