//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on a topic's
//! overrides (APPEND/SUBTRACT only on list configs), through the same path as
//! AlterConfigs (see `alter_configs`).

use std::sync::Arc;

use kafka_protocol::messages::IncrementalAlterConfigsResponse;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::protocol::StrBytes;
use weir_client::protocol::RequestHeader;
use weir_client::protocol::requests::IncrementalAlterConfigsRequest;

use super::BrokerCtx;
use super::alter_configs::{Resource, alter};
use super::dispatch::ResponseFuture;
use super::encode::reply;
use crate::controller::ConfigAlteration;

pub fn start(
    ctx: &Arc<BrokerCtx>,
    header: RequestHeader,
    request: IncrementalAlterConfigsRequest,
) -> ResponseFuture {
    let ctx = ctx.clone();
    Box::pin(async move {
        let resources: Vec<Resource> = request
            .resources
            .into_iter()
            .map(|r| Resource {
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                alteration: ConfigAlteration::Incremental(
                    r.configs
                        .into_iter()
                        .map(|c| (c.name, c.config_operation, c.value))
                        .collect(),
                ),
            })
            .collect();
        let outcomes = alter(&ctx, &resources, request.validate_only).await;
        let responses = resources
            .iter()
            .zip(outcomes)
            .map(|(r, (code, message))| {
                AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_resource_type(r.resource_type)
                    .with_resource_name(StrBytes::from_string(r.resource_name.clone()))
            })
            .collect();
        reply(
            &header,
            &IncrementalAlterConfigsResponse::default().with_responses(responses),
        )
    })
}
