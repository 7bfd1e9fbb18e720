//! The web console on the HTTP port (`/`): server-rendered pages of the
//! cluster and its brokers, topics and partitions, the consumer groups this
//! broker coordinates with their members, assignments and lag, a live
//! throughput chart, and a record browser for the partitions this broker
//! holds. Read-only unless `http.console.write = true`, which adds topic
//! creation. No build step and nothing fetched from elsewhere: the pages are
//! maud templates ([`pages`], escaping every value) with one embedded script.

mod assets;
mod pages;
mod records;

use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::Markup;
use serde::Deserialize;

use crate::context::BrokerCtx;
use crate::controller::TopicSpec;
use crate::group::GroupMsg;
use crate::partition::{PartitionEntry, PartitionHandle};
use crate::wire::{GroupRoute, send_to_group};

/// How long a page waits for a group coordinator.
const GROUP_WAIT_MS: u64 = 2_000;

/// The console's routes (merged into the HTTP port's router).
pub fn router() -> axum::Router<Arc<BrokerCtx>> {
    axum::Router::new()
        .route("/", get(overview))
        .route("/topics", get(topics).post(create_topic))
        .route("/topics/{name}", get(topic))
        .route("/groups", get(groups))
        .route("/groups/{id}", get(group))
        .route("/browse", get(browse))
        .route("/console/throughput.json", get(throughput))
}

/// One broker of the overview.
pub struct BrokerRow {
    node_id: i32,
    endpoints: String,
    rack: String,
    fenced: bool,
}

/// One topic of the topics page; -1 where this broker holds none of it.
pub struct TopicRow {
    name: String,
    partitions: usize,
    replication: usize,
    end_offsets: i64,
    size_bytes: i64,
}

/// One partition of a topic page; offsets are -1 where this broker does not
/// hold it.
pub struct PartitionRow {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    log_start: i64,
    high_watermark: i64,
    log_end: i64,
    size_bytes: i64,
}

/// One member of a group page.
pub struct GroupMemberRow {
    member_id: String,
    client_id: String,
    client_host: String,
    assignment: String,
}

/// One committed offset of a group page; -1 where this broker does not hold
/// the partition.
pub struct GroupOffsetRow {
    topic: String,
    partition: i32,
    committed: i64,
    high_watermark: i64,
    lag: i64,
}

fn page(ctx: &BrokerCtx, title: &str, body: Markup) -> Html<String> {
    Html(pages::layout(title, ctx.config.node_id, body).into_string())
}

fn local(ctx: &BrokerCtx, topic: &str, partition: i32) -> Option<PartitionHandle> {
    match ctx.partitions.lookup(topic, partition) {
        Some(PartitionEntry::Online(handle)) => Some(handle),
        _ => None,
    }
}

async fn overview(State(ctx): State<Arc<BrokerCtx>>) -> Html<String> {
    let image = ctx.image();
    let brokers: Vec<BrokerRow> = image
        .brokers
        .values()
        .map(|b| BrokerRow {
            node_id: b.node_id,
            endpoints: b
                .endpoints
                .iter()
                .map(|e| format!("{}://{}:{}", e.listener, e.host, e.port))
                .collect::<Vec<_>>()
                .join(", "),
            rack: b.rack.clone().unwrap_or_default(),
            fenced: b.fenced,
        })
        .collect();
    let body = pages::overview(&image.cluster_id, image.controller_id, &brokers);
    page(&ctx, "Cluster", body)
}

async fn topics(State(ctx): State<Arc<BrokerCtx>>) -> Html<String> {
    topics_page(&ctx, None)
}

fn topics_page(ctx: &BrokerCtx, message: Option<&str>) -> Html<String> {
    let image = ctx.image();
    let rows: Vec<TopicRow> = image
        .topics
        .values()
        .map(|t| {
            let held: Vec<PartitionHandle> = t
                .partitions
                .iter()
                .filter_map(|p| local(ctx, &t.name, p.partition))
                .collect();
            let (ends, size) = if held.is_empty() {
                (-1, -1)
            } else {
                held.iter().fold((0, 0), |(ends, size), h| {
                    (
                        ends + *h.high_watermark.borrow(),
                        size + h.reader.size_bytes() as i64,
                    )
                })
            };
            TopicRow {
                name: t.name.clone(),
                partitions: t.partitions.len(),
                replication: t.partitions.first().map_or(0, |p| p.replicas.len()),
                end_offsets: ends,
                size_bytes: size,
            }
        })
        .collect();
    let body = pages::topics(&rows, ctx.config.http_console_write, message);
    page(ctx, "Topics", body)
}

/// The topic creation form's fields.
#[derive(Debug, Deserialize)]
struct NewTopicForm {
    name: String,
    partitions: Option<String>,
    replication_factor: Option<String>,
}

async fn create_topic(
    State(ctx): State<Arc<BrokerCtx>>,
    Form(form): Form<NewTopicForm>,
) -> Response {
    if !ctx.config.http_console_write {
        let body = pages::message("The console is read-only (http.console.write = false).");
        return (StatusCode::FORBIDDEN, page(&ctx, "Read-only", body)).into_response();
    }
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let partitions = given(&form.partitions)
        .map(|v| v.parse::<i32>())
        .transpose();
    let replication = given(&form.replication_factor)
        .map(|v| v.parse::<i16>())
        .transpose();
    let (Ok(partitions), Ok(replication)) = (partitions, replication) else {
        let html = topics_page(
            &ctx,
            Some("Partitions and replication factor must be numbers."),
        );
        return (StatusCode::BAD_REQUEST, html).into_response();
    };
    let spec = TopicSpec {
        name: form.name.clone(),
        num_partitions: partitions,
        replication_factor: replication,
        configs: Vec::new(),
    };
    match ctx.create_topics(vec![spec], false).await.pop() {
        Some(Ok(())) => {
            Redirect::to(&format!("/topics/{}", pages::url(&form.name))).into_response()
        }
        Some(Err(e)) => {
            let html = topics_page(&ctx, Some(&format!("Not created: {e}")));
            (StatusCode::BAD_REQUEST, html).into_response()
        }
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn topic(State(ctx): State<Arc<BrokerCtx>>, Path(name): Path<String>) -> Response {
    let image = ctx.image();
    let Some(t) = image.topic(&name) else {
        let body = pages::message(&format!("No topic named {name}."));
        return (StatusCode::NOT_FOUND, page(&ctx, "No such topic", body)).into_response();
    };
    let rows: Vec<PartitionRow> = t
        .partitions
        .iter()
        .map(|p| {
            let held = local(&ctx, &name, p.partition);
            let of = |f: &dyn Fn(&PartitionHandle) -> i64| held.as_ref().map_or(-1, f);
            PartitionRow {
                partition: p.partition,
                leader: p.leader,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                log_start: of(&|h| h.reader.log_start_offset()),
                high_watermark: of(&|h| *h.high_watermark.borrow()),
                log_end: of(&|h| h.reader.log_end_offset()),
                size_bytes: of(&|h| h.reader.size_bytes() as i64),
            }
        })
        .collect();
    page(&ctx, &name, pages::topic(&name, &rows)).into_response()
}

async fn groups(State(ctx): State<Arc<BrokerCtx>>) -> Html<String> {
    let rows: Vec<(String, String, String)> = ctx
        .groups
        .list()
        .into_iter()
        .map(|(id, l)| (id, l.state.to_owned(), l.protocol_type))
        .collect();
    page(&ctx, "Consumer groups", pages::groups(&rows))
}

async fn group(State(ctx): State<Arc<BrokerCtx>>, Path(id): Path<String>) -> Response {
    if !ctx.groups.contains(&id) {
        let body = pages::message(&format!(
            "This broker does not coordinate a group named {id}."
        ));
        return (StatusCode::NOT_FOUND, page(&ctx, "No such group", body)).into_response();
    }
    let wait = Duration::from_millis(GROUP_WAIT_MS);
    let described = send_to_group(&ctx, &id, GroupRoute::Existing, |reply| {
        GroupMsg::Describe { reply }
    })
    .answer(wait)
    .await;
    let fetched = send_to_group(&ctx, &id, GroupRoute::Existing, |reply| {
        GroupMsg::FetchOffsets {
            partitions: None,
            require_stable: false,
            reply,
        }
    })
    .answer(wait)
    .await;
    let (state, members) = match described {
        Ok(d) => (
            d.state.to_owned(),
            d.members
                .into_iter()
                .map(|m| GroupMemberRow {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: records::assignment(&m.assignment)
                        .unwrap_or_else(|| format!("({} bytes)", m.assignment.len())),
                })
                .collect(),
        ),
        Err(code) => (format!("unavailable (error {code})"), Vec::new()),
    };
    let mut offsets: Vec<GroupOffsetRow> = fetched
        .map(|f| f.offsets)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|((topic, partition), value)| {
            let committed = value?.offset;
            let high_watermark =
                local(&ctx, &topic, partition).map_or(-1, |h| *h.high_watermark.borrow());
            Some(GroupOffsetRow {
                lag: if high_watermark < 0 {
                    -1
                } else {
                    (high_watermark - committed).max(0)
                },
                topic,
                partition,
                committed,
                high_watermark,
            })
        })
        .collect();
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    page(&ctx, &id, pages::group(&id, &state, &members, &offsets)).into_response()
}

/// The record browser's query.
#[derive(Debug, Deserialize)]
struct BrowseQuery {
    topic: String,
    partition: i32,
    offset: Option<i64>,
    format: Option<String>,
}

async fn browse(State(ctx): State<Arc<BrokerCtx>>, Query(q): Query<BrowseQuery>) -> Html<String> {
    let hex = q.format.as_deref() == Some("hex");
    let held = local(&ctx, &q.topic, q.partition);
    let (from, shown) = match &held {
        Some(h) => {
            let below = *h.high_watermark.borrow();
            let (from, records) = records::read_records(&h.reader, q.offset.unwrap_or(0), below);
            (from, Some(records))
        }
        None => (q.offset.unwrap_or(0), None),
    };
    let body = pages::browse(&q.topic, q.partition, (from, hex), shown.as_deref());
    page(&ctx, &format!("{}-{}", q.topic, q.partition), body)
}

/// What the throughput chart polls.
#[derive(Debug, serde::Serialize)]
struct Throughput {
    at_ms: u128,
    bytes_in: u64,
    bytes_out: u64,
}

async fn throughput(State(ctx): State<Arc<BrokerCtx>>) -> axum::Json<Throughput> {
    let (bytes_in, bytes_out) = ctx.metrics.total_bytes();
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    axum::Json(Throughput {
        at_ms,
        bytes_in,
        bytes_out,
    })
}
