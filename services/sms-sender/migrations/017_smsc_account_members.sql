-- The operator's limits are the account's, however many dispatchers run (issue #19). Each live
-- dispatcher holds a lease row here, heartbeated; its share of the account's binds and TPS is
-- computed from the live rows at each heartbeat (sms_sender.domain.account_share). A member
-- that stops deletes its row; a dead one's row expires and is deleted by the next heartbeat of
-- any other. Times are the database's (clock_timestamp()), one clock for every process.
CREATE TABLE smsc_account_members (
    account    text        NOT NULL,  -- system_id@host:port
    member     text        NOT NULL,  -- one per dispatcher process, new at each start
    joined_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (account, member)
);
