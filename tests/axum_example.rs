//! `examples/axum.rs`, served on a free loopback port and driven with real
//! HTTP/1.1 requests over TCP: the memoized handler answers, a second call
//! is a hit, and `/debug/caches` shows the handler's cache.

#[path = "../examples/axum.rs"]
mod example;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One `GET` on a connection of its own: the status code and the body.
async fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let read = stream.read_to_string(&mut response);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answered")
        .unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_memoized_handler_and_the_debug_route_answer_over_http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, example::app()).await });

    assert_eq!(get(port, "/users/7").await, (200, "user 7".into()));
    // From the cache now: the handler's function counts a hit.
    assert_eq!(get(port, "/users/7").await, (200, "user 7".into()));
    let stats = example::user_name::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    // An `Err` is answered, and not cached.
    assert_eq!(get(port, "/users/0").await.0, 404);

    let (status, table) = get(port, "/debug/caches").await;
    assert_eq!(status, 200);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("cache") && header.contains("hit%"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|line| line.contains("::user_name"))
        .unwrap_or_else(|| panic!("the handler's cache is listed:\n{table}"));
    assert!(row.contains(" 10000 "), "its bound: {row}");
    server.abort();
}
