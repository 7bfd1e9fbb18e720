"""Where real clients' own test suites probe Kafka's exact answers, Weir
answers as Kafka 3.9 does (issue 17), checked with clients no one here wrote."""

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_commits_to_unknown_partitions_are_refused_and_store_nothing(broker):
    """OffsetCommit for a topic, or a partition, that does not exist answers
    UNKNOWN_TOPIC_OR_PARTITION for it and stores nothing; the partitions that
    exist in the same request are committed; OffsetFetch of the unknown ones
    answers no offset and no error."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("known", 1, 1)])["known"].result(timeout=30)
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": "commits-unknown", "enable.auto.commit": False,
    })
    try:
        asked = [
            TopicPartition("known", 0, 5),
            TopicPartition("known", 7, 5),  # no partition 7
            TopicPartition("no-such-topic", 0, 5),
        ]
        try:
            answered = consumer.commit(offsets=asked, asynchronous=False)
        except KafkaException as e:
            # librdkafka raises for a commit with partition errors; the
            # per-partition answers are what the broker said.
            answered = e.args[0] if isinstance(e.args[0], list) else None
            if answered is None:
                assert e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, e
        if answered is not None:
            errors = {(tp.topic, tp.partition): tp.error for tp in answered}
            assert errors[("known", 0)] is None
            for tp in [("known", 7), ("no-such-topic", 0)]:
                assert errors[tp] is not None and errors[tp].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, errors

        committed = consumer.committed(
            [TopicPartition("known", 0), TopicPartition("known", 7), TopicPartition("no-such-topic", 0)],
            timeout=30,
        )
        by_tp = {(tp.topic, tp.partition): tp for tp in committed}
        assert by_tp[("known", 0)].offset == 5
        for tp in [("known", 7), ("no-such-topic", 0)]:
            assert by_tp[tp].offset < 0, by_tp[tp]  # OFFSET_INVALID: nothing stored
            assert by_tp[tp].error is None
    finally:
        consumer.close()
