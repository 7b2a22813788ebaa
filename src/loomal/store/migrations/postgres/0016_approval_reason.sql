-- What the agent said it needs a person's approval for (plain text, at most 500
-- characters, shown escaped), what kind of approval it is (a brokered request,
-- 'request', or the reveal of a credential's secret, 'reveal'), and the label of
-- the key that asked, shown beside its prefix to the person deciding.
ALTER TABLE approvals ADD COLUMN reason TEXT;
ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'request';
ALTER TABLE approvals ADD COLUMN requested_label TEXT;
