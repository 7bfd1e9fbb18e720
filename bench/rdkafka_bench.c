/*
 * rdkafka_bench: librdkafka producer/consumer load for `just bench`.
 *
 *   rdkafka_bench produce BOOTSTRAP TOPIC RECORDS SIZE ACKS
 *   rdkafka_bench consume BOOTSTRAP TOPIC RECORDS PARTITIONS
 *
 * Prints one JSON line: records, bytes, seconds, records_per_sec, mb_per_sec and,
 * for produce, p50/p99 delivery latency in ms (send call to delivery report).
 * Bounded: stops after RECORDS or after BENCH_MAX_SECONDS. With BENCH_RATE set
 * (records/s, produce only) sends are paced to that rate.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_SECONDS 120.0

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double *sent_at;      /* send time per record id */
static float *latency_ms;    /* delivery latency per delivered record */
static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    long id = (long)(intptr_t)m->_private;
    if (m->err) { failed++; return; }
    latency_ms[delivered++] = (float)((now_s() - sent_at[id]) * 1000.0);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static rd_kafka_conf_t *conf_or_die(const char *bootstrap) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        exit(2);
    }
}

static int produce(const char *bootstrap, const char *topic, long records, int size, const char *acks) {
    char err[512];
    rd_kafka_conf_t *conf = conf_or_die(bootstrap);
    set(conf, "acks", acks);
    set(conf, "linger.ms", "5");
    set(conf, "batch.size", "1000000");
    set(conf, "queue.buffering.max.messages", "2000000");
    set(conf, "queue.buffering.max.kbytes", "2097151");
    set(conf, "enable.idempotence", "false");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) { fprintf(stderr, "%s\n", err); return 2; }
    sent_at = calloc(records, sizeof *sent_at);
    latency_ms = calloc(records, sizeof *latency_ms);
    char *payload = malloc(size);
    memset(payload, 'x', size);
    const char *rate_env = getenv("BENCH_RATE");
    double rate = rate_env ? atof(rate_env) : 0;
    double start = now_s();
    long sent = 0;
    while (sent < records && now_s() - start < BENCH_MAX_SECONDS) {
        if (rate > 0 && (sent & 63) == 0) {
            double due = start + sent / rate;
            while (now_s() < due) rd_kafka_poll(rk, 1);
        }
        sent_at[sent] = now_s();
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)sent), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) { rd_kafka_poll(rk, 1); continue; }
        if (e) { fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e)); break; }
        sent++;
        if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double secs = now_s() - start;
    qsort(latency_ms, delivered, sizeof *latency_ms, cmp_float);
    double p50 = delivered ? latency_ms[delivered / 2] : 0, p99 = delivered ? latency_ms[(long)(delivered * 0.99)] : 0;
    printf("{\"mode\":\"produce\",\"records\":%ld,\"failed\":%ld,\"size\":%d,\"acks\":\"%s\",\"seconds\":%.3f,"
           "\"records_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
           delivered, failed, size, acks, secs, delivered / secs, delivered * (double)size / secs / 1e6, p50, p99);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}

static int consume(const char *bootstrap, const char *topic, long records, int partitions) {
    char err[512];
    rd_kafka_conf_t *conf = conf_or_die(bootstrap);
    set(conf, "group.id", "weir-bench");
    set(conf, "enable.auto.commit", "false");
    set(conf, "fetch.max.bytes", "52428800");
    set(conf, "max.partition.fetch.bytes", "10485760");
    set(conf, "queued.max.messages.kbytes", "1048576");
    /* Keep fetching while the application drains: with the default (100k) the
     * fetcher pauses and only re-checks once a second. */
    set(conf, "queued.min.messages", "2000000");
    if (getenv("BENCH_DEBUG")) set(conf, "debug", getenv("BENCH_DEBUG"));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) { fprintf(stderr, "%s\n", err); return 2; }
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(tps, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tps);
    long got = 0;
    double bytes = 0, start = 0;
    double deadline = now_s() + BENCH_MAX_SECONDS;
    while (got < records && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            if (got == 0) start = now_s();
            got++;
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = now_s() - start;
    printf("{\"mode\":\"consume\",\"records\":%ld,\"seconds\":%.3f,\"records_per_sec\":%.0f,\"mb_per_sec\":%.1f}\n",
           got, secs, got / secs, bytes / secs / 1e6);
    rd_kafka_topic_partition_list_destroy(tps);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == records ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 7 && !strcmp(argv[1], "produce"))
        return produce(argv[2], argv[3], atol(argv[4]), atoi(argv[5]), argv[6]);
    if (argc == 6 && !strcmp(argv[1], "consume"))
        return consume(argv[2], argv[3], atol(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: %s produce BOOTSTRAP TOPIC RECORDS SIZE ACKS | consume BOOTSTRAP TOPIC RECORDS PARTITIONS\n", argv[0]);
    return 2;
}
