-- Each ticket is written once per change, not twice.
--
-- Until now every commit wrote a ticket's whole body into ticketd_changes
-- and again into ticketd_tickets. Now ticketd_tickets names the change
-- that holds the ticket as it is (version), and keeps a body of its own
-- only once that change is pruned: pruning moves the ticket out of the
-- change it deletes (see the instances' pruning statement). Exactly one of
-- body and version is set. Instances older than this migration cannot load
-- a store that has it: upgrade them all.

ALTER TABLE ticketd_tickets
    ALTER COLUMN body DROP NOT NULL,
    ADD COLUMN version bigint,
    ADD CONSTRAINT ticketd_tickets_body_or_version
        CHECK ((body IS NULL) <> (version IS NULL));

DROP FUNCTION ticketd_commit(bigint, text[], text[], text[], text[], text[], text[], boolean);

-- One group commit: moves the counter from `expected` by the number of
-- changes, or, when another instance committed first, changes nothing and
-- answers (false, the current version) so the caller catches up and plans
-- again. Each ticket the batch leaves in place points at its last change in
-- the batch (put_ids, put_versions); the tickets' final state is written
-- after any clear in the batch.
CREATE FUNCTION ticketd_commit(
    expected bigint,
    kinds text[],
    ids text[],
    bodies text[],
    put_ids text[],
    put_versions bigint[],
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
    IF coalesce(array_length(delete_ids, 1), 0) > 0 THEN
        DELETE FROM ticketd_tickets WHERE id = ANY (delete_ids::uuid[]);
    END IF;
    INSERT INTO ticketd_tickets (id, body, version)
        SELECT p.i::uuid, NULL, p.v FROM unnest(put_ids, put_versions) AS p(i, v)
        ON CONFLICT (id) DO UPDATE SET body = NULL, version = EXCLUDED.version;
    RETURN QUERY SELECT true, reached;
END
$$;
