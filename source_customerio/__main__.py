from source_customerio.run import run

if __name__ == "__main__":
    run()
