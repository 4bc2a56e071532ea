//! A memoized handler behind axum, and a `/debug/caches` route that prints
//! every cache of the process (`memo_runtime::report()`).
//!
//! Run: `cargo run --example axum --features axum`, then
//! `curl localhost:3000/users/7` (about 200 ms the first time, then from the
//! cache) and `curl localhost:3000/debug/caches`.
//!
//! `tests/axum_example.rs` serves this same router on a free port and
//! drives it with real HTTP requests.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use memo_runtime::{cached, report};

/// Stands in for a database query of about 200 ms. Only `Ok` is cached, so
/// a missing user is asked for again next time.
#[cached(ttl = 60, max_size = 10_000)]
pub async fn user_name(id: u64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    if id == 0 {
        return Err("no user 0".into());
    }
    Ok(format!("user {id}"))
}

async fn user(Path(id): Path<u64>) -> Result<String, (StatusCode, String)> {
    user_name(id)
        .await
        .map_err(|err| (StatusCode::NOT_FOUND, err))
}

/// Every cache, its size, hit ratio, loads and errors: a table for humans.
async fn debug_caches() -> String {
    report()
}

/// The service's routes.
pub fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/debug/caches", get(debug_caches))
}

#[allow(dead_code)] // the test serves `app()` itself
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("try: curl localhost:3000/users/7; curl localhost:3000/debug/caches");
    axum::serve(listener, app()).await
}
