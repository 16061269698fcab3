"""Numbers of the stand-in build that its PROVENANCE.md quotes too (one place, read by build.py and
provenance.py)."""

MIN_CHUNK = 20
Q3D = 4096.0
Q2D = 16.0
HE_PX_SCALE = 0.7  # the person is about 0.7x as many pixels tall in 640x480 as in the 1000x1000 views
