-- The last list a user was shown is the menu their next answer refers to: a numbered list of
-- subscriptions (a number cancels) or of pending orders (Y<n> confirms). One row per user, so a
-- newer list of either kind replaces the older one.
ALTER TABLE mo_menus ADD COLUMN purpose text NOT NULL DEFAULT 'cancel' CHECK (purpose IN ('cancel', 'confirm'));
