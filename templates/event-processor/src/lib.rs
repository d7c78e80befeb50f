//! {{project-name}}: the event-sourced sensor pattern. Every reading delivered on
//! `sensors.<id>` is stored in the key-value store as an event (`events.<id>.<seq>`), and a
//! summary of that sensor (`count=…, last=…`) is published on `summary.<id>`.

use waxosuit_guest::prelude::*;

fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
    match cmd.op.as_str() {
        ops::MSG_DELIVER => {
            let message: messaging::Message = cmd.payload_as()?;
            let Some(sensor) = message.subject.strip_prefix("sensors.") else {
                return Err(Error::new(
                    codes::INVALID_ARGUMENT,
                    format!("unexpected subject `{}`", message.subject),
                ));
            };
            let reading = String::from_utf8_lossy(&message.body).trim().to_string();
            let seq = ctx.kv().incr(&format!("count.{sensor}"), 1)?;
            ctx.kv().set(&format!("events.{sensor}.{seq}"), reading.as_bytes())?;
            let summary = format!("sensor={sensor} count={seq} last={reading}");
            ctx.msg().publish(&format!("summary.{sensor}"), summary.as_bytes())?;
            ctx.log().info(&summary);
            Ok(Event::ok())
        }
        other => Err(Error::new(
            codes::UNKNOWN_OPERATION,
            format!("{{project-name}} does not handle `{other}`"),
        )),
    }
}

waxosuit_guest::handler!(handle);
