-- What a final status means (delivered | failed | expired | unknown): kept with the message so
-- partners read it in lists as well as one by one. Null before the message is final, and for
-- messages that were final before this column (their segments still say it).
ALTER TABLE messages ADD COLUMN outcome text;
