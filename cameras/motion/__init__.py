"""Motion detection on camera sub streams: the detector, the event state machine and the analysers."""
