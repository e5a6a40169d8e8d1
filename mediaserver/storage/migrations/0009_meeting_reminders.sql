-- 0009: e-mail reminders of scheduled meetings, sent once by the 'meeting.remind' job.
-- meetings.reminded_at: every invited site with an e-mail address has had its reminder (the job skips the meeting).
-- meeting_sites.reminded_at / remind_error: one site's reminder went out (then never again), or why it did not yet.
ALTER TABLE meetings ADD COLUMN reminded_at REAL;
ALTER TABLE meeting_sites ADD COLUMN reminded_at REAL;
ALTER TABLE meeting_sites ADD COLUMN remind_error TEXT;
-- What the job reads every minute: the meetings whose reminder is still to do (few, whatever the history).
CREATE INDEX meetings_remind_pending ON meetings(starts_at)
    WHERE reminded_at IS NULL AND cancelled = 0 AND remind_before_s IS NOT NULL;
