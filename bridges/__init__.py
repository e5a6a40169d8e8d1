"""The conference: rooms of district sites, signalling, moderation, active speaker — policies on the engine."""
