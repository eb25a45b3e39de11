//! Who a call belongs to: the logged `modelId` classified ([`model_id`]), an application inference
//! profile resolved to its tags ([`profiles`]), the IAM caller for calls without one ([`principal`]).

pub mod model_id;
pub mod principal;
pub mod profiles;
