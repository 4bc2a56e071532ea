use memo_runtime::cached;

#[derive(Debug)]
struct ApiError;

#[cached]
async fn fetch(text: String) -> Result<u64, ApiError> {
    let n: u64 = text.parse()?;
    Ok(n)
}

fn main() {}
