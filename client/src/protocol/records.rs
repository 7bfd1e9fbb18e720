//! RecordBatch v2 view.
