//! The OpenAI-compatible surface, as pure functions: parsing and validating request bodies
//! ([`request`]), vLLM-shaped errors ([`error`]) and response and SSE rendering
//! ([`render`]). Nothing here touches a socket.

pub mod error;
pub mod render;
pub mod request;
pub mod tokenize;
