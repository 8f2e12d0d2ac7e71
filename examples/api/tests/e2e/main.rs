//! End-to-end tests: the API on a free loopback port, driven over HTTP.

mod auth;
mod common;
mod dashboard;
mod document;
mod flow;
mod health;
mod idempotency;
mod input;
mod layers;
mod limits;
mod metrics;
mod set_aside;
