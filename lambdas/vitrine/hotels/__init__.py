"""Hotel image intelligence: label every photo, choose each hotel's cover, order the gallery.

``classify.py`` turns S3 events under ``hotels/{hotel_id}/`` into classified images (the chat VLM, answers
parsed to the label set of ``labels.json``); ``covers.py`` scores a hotel's images with the ranker once its
images or text stop changing (a debounced job per hotel) and keeps exactly one cover; ``gallery.py`` orders
what the travel site shows.
"""
