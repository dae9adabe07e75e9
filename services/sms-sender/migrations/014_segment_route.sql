-- Which SMSC route took each segment (issue #17, mirror takeover): 'primary' or 'standby' when a
-- standby route is configured, NULL with a single route. A receipt query (query_sm) has to go
-- to the SMSC that took the segment, and two SMSCs may hand out the same message id.
ALTER TABLE segments ADD COLUMN route text;
