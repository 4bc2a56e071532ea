use memo_runtime::cached;

#[cached(ttl = 60, stale = 3600, cache_err = true)]
async fn rate(currency: String) -> Result<f64, String> {
    Err(currency)
}

fn main() {}
