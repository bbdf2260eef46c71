"""edgeseg.camera"""
