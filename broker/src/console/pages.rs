//! The console's pages as maud templates: every `(value)` spliced into them
//! is HTML-escaped, so topic names, group ids, client ids, keys, values and
//! headers (attacker-controlled) are shown as text, never as markup.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::assets::{CHART_JS, CSS};
use super::records::{ShownRecord, shown};
use super::{BrokerRow, GroupMemberRow, GroupOffsetRow, PartitionRow, TopicRow};

/// A path segment or query value, percent-encoded.
pub fn url(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// A value that may be unknown here (-1 or less).
fn known(v: i64) -> String {
    if v < 0 {
        "—".to_owned()
    } else {
        v.to_string()
    }
}

fn list(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The frame around every page.
pub fn layout(title: &str, node_id: i32, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Weir broker " (node_id) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href="/" { "Weir" }
                    a href="/" { "Cluster" }
                    a href="/topics" { "Topics" }
                    a href="/groups" { "Consumer groups" }
                    span.muted { "broker " (node_id) }
                }
                main { (body) }
            }
        }
    }
}

/// `/`: the cluster, its brokers and this broker's live throughput.
pub fn overview(cluster_id: &str, controller_id: i32, brokers: &[BrokerRow]) -> Markup {
    html! {
        h1 { "Cluster " code { (cluster_id) } }
        p { "Active controller: " (known(i64::from(controller_id))) }
        h2 { "Brokers" }
        table #brokers {
            tr { th { "Id" } th { "Endpoints" } th { "Rack" } th { "State" } }
            @for b in brokers {
                tr {
                    td.num { (b.node_id) }
                    td { (b.endpoints) }
                    td { (b.rack) }
                    td { @if b.fenced { span.fenced { "fenced" } } @else { "active" } }
                }
            }
        }
        h2 { "Throughput of this broker" }
        p.legend {
            span.in #rate-in { "— B/s in" }
            span.out #rate-out { "— B/s out" }
            span.muted #rate-max {}
        }
        svg.chart #chart width="600" height="160" viewBox="0 0 600 160" {}
        script { (PreEscaped(CHART_JS)) }
    }
}

/// `/topics`: every topic, and the creation form when writes are on.
pub fn topics(topics: &[TopicRow], writable: bool, message: Option<&str>) -> Markup {
    html! {
        h1 { "Topics" }
        @if let Some(message) = message { p { (message) } }
        @if writable {
            form.inline method="post" action="/topics" {
                input name="name" placeholder="name" required;
                input name="partitions" type="number" min="1" value="1";
                input name="replication_factor" type="number" min="1" placeholder="replication factor";
                button type="submit" { "Create topic" }
            }
        }
        table #topics {
            tr { th { "Name" } th { "Partitions" } th { "Replication" } th { "Messages (end offsets here)" } th { "Size here" } }
            @for t in topics {
                tr {
                    td { a href={ "/topics/" (url(&t.name)) } { (t.name) } }
                    td.num { (t.partitions) }
                    td.num { (t.replication) }
                    td.num { (known(t.end_offsets)) }
                    td.num { (known(t.size_bytes)) }
                }
            }
        }
    }
}

/// `/topics/{name}`: its partitions.
pub fn topic(name: &str, partitions: &[PartitionRow]) -> Markup {
    html! {
        h1 { "Topic " code { (name) } }
        p.muted { "Offsets and sizes are shown for the partitions this broker holds." }
        table #partitions {
            tr {
                th { "Partition" } th { "Leader" } th { "Replicas" } th { "ISR" }
                th { "Log start" } th { "High watermark" } th { "Log end" } th { "Size" } th {}
            }
            @for p in partitions {
                tr {
                    td.num { (p.partition) }
                    td.num { (p.leader) }
                    td { (list(&p.replicas)) }
                    td { (list(&p.isr)) }
                    td.num { (known(p.log_start)) }
                    td.num { (known(p.high_watermark)) }
                    td.num { (known(p.log_end)) }
                    td.num { (known(p.size_bytes)) }
                    td {
                        @if p.log_end >= 0 {
                            a href={ "/browse?topic=" (url(name)) "&partition=" (p.partition) } { "records" }
                        }
                    }
                }
            }
        }
    }
}

/// `/groups`: the groups this broker coordinates.
pub fn groups(groups: &[(String, String, String)]) -> Markup {
    html! {
        h1 { "Consumer groups" }
        p.muted { "The groups this broker coordinates." }
        table #groups {
            tr { th { "Group" } th { "State" } th { "Protocol type" } }
            @for (id, state, protocol_type) in groups {
                tr {
                    td { a href={ "/groups/" (url(id)) } { (id) } }
                    td { (state) }
                    td { (protocol_type) }
                }
            }
        }
    }
}

/// `/groups/{id}`: state, members with their assignments, offsets and lag.
pub fn group(
    id: &str,
    state: &str,
    members: &[GroupMemberRow],
    offsets: &[GroupOffsetRow],
) -> Markup {
    html! {
        h1 { "Group " code { (id) } }
        p { "State: " strong #state { (state) } }
        h2 { "Members" }
        table #members {
            tr { th { "Member" } th { "Client id" } th { "Host" } th { "Assignment" } }
            @for m in members {
                tr {
                    td { (m.member_id) }
                    td { (m.client_id) }
                    td { (m.client_host) }
                    td { (m.assignment) }
                }
            }
        }
        h2 { "Offsets" }
        table #offsets {
            tr { th { "Topic" } th { "Partition" } th { "Committed" } th { "High watermark" } th { "Lag" } }
            @for o in offsets {
                tr {
                    td { (o.topic) }
                    td.num { (o.partition) }
                    td.num { (o.committed) }
                    td.num { (known(o.high_watermark)) }
                    td.num.lag { (known(o.lag)) }
                }
            }
        }
    }
}

/// `/browse`: records of one partition from an offset.
pub fn browse(
    topic: &str,
    partition: i32,
    (from, hex): (i64, bool),
    records: Option<&[ShownRecord]>,
) -> Markup {
    let next = records.and_then(|r| r.last()).map(|r| r.offset + 1);
    html! {
        h1 { "Records of " code { (topic) "-" (partition) } }
        form.inline method="get" action="/browse" {
            input type="hidden" name="topic" value=(topic);
            input type="hidden" name="partition" value=(partition);
            label { "From offset " input name="offset" type="number" min="0" value=(from); }
            label { input type="checkbox" name="format" value="hex" checked[hex]; " hex" }
            button type="submit" { "Show" }
        }
        @match records {
            None => p { "This broker does not hold that partition: open the console of a broker that does." },
            Some(records) => {
                table #records {
                    tr { th { "Offset" } th { "Timestamp (ms)" } th { "Key" } th { "Value" } th { "Headers" } }
                    @for r in records {
                        tr {
                            td.num { (r.offset) }
                            td.num { (r.timestamp_ms) }
                            td.bytes { (opt(r.key.as_deref(), hex)) }
                            td.bytes { (opt(r.value.as_deref(), hex)) }
                            td.bytes {
                                @for (k, v) in &r.headers {
                                    div { (shown(k, hex)) " = " (opt(v.as_deref(), hex)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = next {
                    p {
                        a href={ "/browse?topic=" (url(topic)) "&partition=" (partition) "&offset=" (next) @if hex { "&format=hex" } } { "Next page" }
                    }
                } @else {
                    p.muted { "No records from this offset below the high watermark." }
                }
            }
        }
    }
}

fn opt(bytes: Option<&[u8]>, hex: bool) -> String {
    bytes.map_or_else(|| "null".to_owned(), |b| shown(b, hex))
}

/// A page for a missing topic or group, or a refused action.
pub fn message(text: &str) -> Markup {
    html! { p #message { (text) } }
}
