"""edgeseg.build"""
