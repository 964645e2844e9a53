-- The shared store: one stream of changes in a single total order.
--
-- ticketd_stream holds the one counter row every commit moves forward in
-- its own transaction, so versions come out in commit order with no hole.
-- ticketd_changes keeps each change (the same record the journal store
-- appends) at its version; ticketd_tickets holds every ticket as it now
-- is, for instances that start. Bodies are json (kept byte for byte as
-- written: a ticket read back is the ticket written), not jsonb.

CREATE TABLE ticketd_stream (
    id integer PRIMARY KEY CHECK (id = 1),
    epoch uuid NOT NULL,
    version bigint NOT NULL CHECK (version >= 0)
);

INSERT INTO ticketd_stream (id, epoch, version) VALUES (1, gen_random_uuid(), 0);

CREATE TABLE ticketd_tickets (
    id uuid PRIMARY KEY,
    body json NOT NULL
);

CREATE TABLE ticketd_changes (
    version bigint PRIMARY KEY,
    -- put, delete or clear
    kind text NOT NULL,
    ticket_id uuid,
    body json NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);

-- One group commit: moves the counter from `expected` by the number of
-- changes, or, when another instance committed first, changes nothing and
-- answers (false, the current version) so the caller catches up and plans
-- again. The tickets' final state is written after any clear in the batch.
CREATE FUNCTION ticketd_commit(
    expected bigint,
    kinds text[],
    ids text[],
    bodies text[],
    put_ids text[],
    put_bodies text[],
    delete_ids text[],
    clear_first boolean
) RETURNS TABLE (committed boolean, version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(kinds, 1), 0);
    reached bigint;
BEGIN
    UPDATE ticketd_stream AS s SET version = s.version + n
        WHERE s.id = 1 AND s.version = expected
        RETURNING s.version INTO reached;
    IF NOT FOUND THEN
        SELECT s.version INTO reached FROM ticketd_stream AS s WHERE s.id = 1;
        RETURN QUERY SELECT false, reached;
        RETURN;
    END IF;
    INSERT INTO ticketd_changes (version, kind, ticket_id, body)
        SELECT expected + c.o, c.k, c.i::uuid, c.b::json
        FROM unnest(kinds, ids, bodies) WITH ORDINALITY AS c(k, i, b, o);
    IF clear_first THEN
        DELETE FROM ticketd_tickets;
    END IF;
    DELETE FROM ticketd_tickets WHERE id = ANY (delete_ids::uuid[]);
    INSERT INTO ticketd_tickets (id, body)
        SELECT p.i::uuid, p.b::json FROM unnest(put_ids, put_bodies) AS p(i, b)
        ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body;
    RETURN QUERY SELECT true, reached;
END
$$;
