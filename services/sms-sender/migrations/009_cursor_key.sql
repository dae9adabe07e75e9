-- Keys the service keeps for itself, made once by the database: every replica reads the same
-- one, and it survives restarts. The status-event cursor key hides row ids from partners
-- (vas_common.cursors).
CREATE TABLE service_keys (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO service_keys (name, value)
VALUES ('status_event_cursor', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
