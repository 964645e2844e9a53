-- What every instance must share besides the tickets: the audit trail
-- and the sessions that were logged out.
--
-- ticketd_audit is append-only: one row per audited action, as the journal
-- store's audit.log holds one line (the same JSON object).
-- ticketd_revoked holds each logged-out session until it would have
-- expired; seq lets instances read only what is new.

CREATE TABLE ticketd_audit (
    id bigserial PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    body json NOT NULL
);

CREATE TABLE ticketd_revoked (
    jti text PRIMARY KEY,
    -- Unix seconds: when the session would have expired.
    expires_at bigint NOT NULL,
    seq bigserial NOT NULL
);

CREATE INDEX ticketd_revoked_seq ON ticketd_revoked (seq);
