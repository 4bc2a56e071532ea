use memo_runtime::cached;

#[cached(ttl = 60, refresh = 30, stale = 3600, jitter = 0.1, shared)]
async fn rate(currency: String) -> Result<f64, String> {
    Err(currency)
}

fn main() {}
