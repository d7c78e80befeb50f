//! {{project-name}}: answers every HTTP request with a greeting.

use waxosuit_guest::prelude::*;

fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
    match cmd.op.as_str() {
        ops::HTTP_SERVER_HANDLE => {
            let request: HttpRequest = cmd.payload_as()?;
            ctx.log().info(&format!("{} {}", request.method, request.path));
            let greeting = format!("Hello from {{project-name}}! You asked for {}\n", request.path);
            Ok(Event::with_payload(&HttpResponse::text(200, greeting)))
        }
        other => Err(Error::new(
            codes::UNKNOWN_OPERATION,
            format!("{{project-name}} does not handle `{other}`"),
        )),
    }
}

waxosuit_guest::handler!(handle);
