"""A camera simulator for tests: a real RTSP server (GStreamer) serving scripted H.264 scenes."""
