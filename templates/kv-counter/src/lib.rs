//! {{project-name}}: each `GET /` increments the key `counter` in the key-value store and
//! answers with the new count as a plain decimal number.

use waxosuit_guest::prelude::*;

fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
    match cmd.op.as_str() {
        ops::HTTP_SERVER_HANDLE => {
            let request: HttpRequest = cmd.payload_as()?;
            let response = match (request.method.as_str(), request.path.as_str()) {
                ("GET", "/") => {
                    let count = ctx.kv().incr("counter", 1)?;
                    ctx.log().info(&format!("counter is now {count}"));
                    HttpResponse::text(200, count.to_string())
                }
                (_, "/") => HttpResponse::text(405, "only GET is allowed\n").with_header("allow", "GET"),
                _ => HttpResponse::text(404, "not found: try GET /\n"),
            };
            Ok(Event::with_payload(&response))
        }
        other => Err(Error::new(
            codes::UNKNOWN_OPERATION,
            format!("{{project-name}} does not handle `{other}`"),
        )),
    }
}

waxosuit_guest::handler!(handle);
