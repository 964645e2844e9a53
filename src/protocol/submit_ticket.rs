//! `submit_ticket`: create a ticket.
//!
//! ```json
//! {"event": "submit_ticket", "ref": "r1",
//!  "data": {"description": "Printer on 3rd floor jams", "system": "Printers", "requester": "Ana"}}
//! ```
//! Every client (the sender included) gets `new_ticket`; the sender also gets
//! `ticket_submitted` `{"request_id"}` once the ticket is durable.

use serde_json::Value;

use super::{ProtocolError, Reply};
use crate::service::Service;

pub(super) async fn run(service: &Service, data: Value) -> Result<Reply, ProtocolError> {
    let ticket = service.submit(data).await?;
    Ok(Reply::TicketSubmitted {
        request_id: ticket.request_id,
    })
}
