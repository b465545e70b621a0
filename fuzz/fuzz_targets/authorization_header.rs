//! The credential parser must turn any Authorization header, however
//! malformed, into credentials or a 4xx error, never a panic.
#![no_main]

use latchkey::http::parse_credentials;
use libfuzzer_sys::fuzz_target;
use warp::http::{HeaderMap, HeaderValue, header};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    if let Err(e) = parse_credentials(&headers) {
        assert!(e.status().is_client_error(), "{e:?}");
    }
});
