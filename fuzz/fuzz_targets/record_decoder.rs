//! The record decoder must refuse, never panic or over-allocate on, any bytes
//! a corrupt store could hold.
#![no_main]

use latchkey::model::{CodeRecord, TokenRecord, User};
use latchkey::store::codec::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(user) = decode::<User>(data) {
        // Whatever decodes must re-encode to something that decodes the same.
        let again = encode(&user).expect("a decoded user encodes");
        assert_eq!(decode::<User>(&again).expect("re-decodes"), user);
    }
    let _ = decode::<TokenRecord>(data);
    let _ = decode::<CodeRecord>(data);
});
