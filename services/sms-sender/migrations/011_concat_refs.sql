-- Concatenation references per recipient (issue #17). The reference of a long message was the
-- last byte of its id, so two long messages to one user shared one 1 time in 256 and a handset
-- could mix their parts. Now each long message takes the next number of its recipient's
-- counter when it is accepted (in the accept transaction), and keeps it in messages.concat_ref
-- so that a resend carries the same UDH. The dispatcher sends its low 8 bits (IEI 0x00) or,
-- where the SMSC accepts them, its low 16 (IEI 0x08): 256 / 65,536 consecutive long messages
-- to one user never share a reference. NULL: a single-part message, or one accepted before.
-- A counter unused since the retention horizon is deleted with the records (nothing to that
-- user is in flight then; it starts again at 0).
CREATE TABLE concat_refs (
    recipient text        PRIMARY KEY,
    next_ref  bigint      NOT NULL,
    used_at   timestamptz NOT NULL
);
ALTER TABLE messages ADD COLUMN concat_ref integer;
