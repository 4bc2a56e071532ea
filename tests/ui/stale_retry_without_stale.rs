use memo_runtime::cached;

#[cached(ttl = 60, stale_retry = 5)]
async fn rate(currency: String) -> Result<f64, String> {
    Err(currency)
}

fn main() {}
