//! The live path, as the ingest Lambda runs it: one subscription batch through parse → resolve →
//! price → aggregate ([`batch`]), CloudWatch datums ([`metrics`]), the runaway [`detector`] and its
//! [`alert`]s (also as chat messages, [`chat`]), and opt-in [`containment`] of a runaway principal.

pub mod alert;
pub mod batch;
pub mod chat;
pub mod containment;
pub mod detector;
pub mod metrics;
pub mod otel;
