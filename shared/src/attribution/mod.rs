//! Who a call belongs to: the logged `modelId` classified ([`model_id`]), an application inference
//! profile and its tags ([`profiles`]), the two resolved to an app and a team ([`resolution`]), and
//! the IAM caller every call also goes to ([`principal`]).

pub mod model_id;
pub mod principal;
pub mod profiles;
pub mod resolution;
