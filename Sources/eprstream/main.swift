print("eprstream")
