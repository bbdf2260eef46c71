"""edgeseg.report"""
