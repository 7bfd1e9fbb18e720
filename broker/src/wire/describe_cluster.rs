//! DescribeCluster: the live brokers (their endpoints on the listener the
//! request came in on), the cluster id and the active controller.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::DescribeClusterRequest;
use weir_client::protocol::requests::describe_cluster::ENDPOINT_TYPE_BROKER;

use super::dispatch::ResponseFuture;
use super::encode::reply;
use super::{BrokerCtx, errors};

/// "Authorized operations not asked for" (Kafka's `i32::MIN` marker).
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    listener: &str,
    header: RequestHeader,
    request: DescribeClusterRequest,
) -> ResponseFuture {
    let image = ctx.image();
    let mut body = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(image.controller_id))
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED);
    if header.api_version >= 1 {
        body = body.with_endpoint_type(request.endpoint_type);
    }
    if request.endpoint_type != ENDPOINT_TYPE_BROKER {
        // Controllers are not reachable by Kafka clients here: they speak
        // only the broker link.
        body = body
            .with_error_code(errors::MISMATCHED_ENDPOINT_TYPE)
            .with_error_message(Some(StrBytes::from_static_str(
                "only broker endpoints are described",
            )));
        return Box::pin(std::future::ready(reply(&header, &body)));
    }
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let endpoint = b.endpoint(listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.node_id))
                    .with_host(StrBytes::from_string(endpoint.host.clone()))
                    .with_port(i32::from(endpoint.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect();
    Box::pin(std::future::ready(reply(
        &header,
        &body.with_brokers(brokers),
    )))
}
