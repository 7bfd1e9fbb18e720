//! IncrementalAlterConfigs response (v1): field for field the AlterConfigs v2
//! body, so it is that type.

pub use super::alter_configs::{
    AlterConfigsResourceResponse, AlterConfigsResponse as IncrementalAlterConfigsResponse,
};
