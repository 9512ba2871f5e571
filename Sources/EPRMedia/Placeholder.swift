// EPRMedia
