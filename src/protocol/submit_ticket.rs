//! `submit_ticket`: create a ticket.
//!
//! ```json
//! {"event": "submit_ticket", "ref": "r1",
//!  "data": {"description": "Printer on 3rd floor jams", "system": "Printers", "requester": "Ana"}}
//! ```
//! Every client (the sender included) gets `new_ticket`; the sender also gets
//! `ticket_submitted` `{"request_id","follow_token"}` once the ticket is
//! durable. The follow token is the requester's key to the ticket (read the
//! conversation, reply, reopen); it is given once, here, and kept only as a
//! hash.

use serde_json::Value;

use super::{ProtocolError, Reply};
use crate::service::Service;

pub(super) async fn run(service: &Service, data: Value) -> Result<Reply, ProtocolError> {
    let submitted = service.submit(data).await?;
    Ok(Reply::TicketSubmitted {
        request_id: submitted.ticket.request_id,
        follow_token: submitted.follow_token,
        linked_to: None,
        replayed: submitted.replayed,
    })
}
