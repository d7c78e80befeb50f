//! The guest of "Writing a guest in Rust" in the ABI chapter of the book: counts its calls in
//! the key-value store and answers with the count. A real guest is a `cdylib` crate built for
//! `wasm32-unknown-unknown`; as an example it only type-checks on the host.

// ANCHOR: guest
use waxosuit_guest::prelude::*;

fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
    let n = ctx.kv().incr("counter", 1)?;
    ctx.log().info(&format!("count {n} ({})", cmd.op));
    Ok(Event::with_payload(&HttpResponse::text(200, n.to_string())))
}
waxosuit_guest::handler!(handle);
// ANCHOR_END: guest

fn main() {}
