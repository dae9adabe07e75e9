-- Staff accounts: the suite's staff sign in here (vas_common.staff); every service verifies
-- the tokens this service issues. Only an argon2 hash of a password is stored.

CREATE TABLE staff_accounts (
    id                      uuid        PRIMARY KEY,
    login                   text        NOT NULL UNIQUE,   -- lower case
    display_name            text        NOT NULL,
    role                    text        NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash           text        NOT NULL,
    active                  boolean     NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL,
    password_changed_at     timestamptz NOT NULL,
    -- Sessions issued before this are refused here (a new password, a role change, a
    -- deactivation end every session the account had).
    sessions_valid_after    timestamptz NOT NULL
);

-- Failed sign-ins per (login, client address) in the current window, so that a password cannot
-- be guessed at speed; counted in the database so the limit holds across replicas.
CREATE TABLE staff_login_failures (
    login           text        NOT NULL,
    address         text        NOT NULL,
    window_start    timestamptz NOT NULL,
    failures        integer     NOT NULL,
    PRIMARY KEY (login, address)
);
